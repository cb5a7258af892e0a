"""Public-domain portraits for tests and benchmarks, from registry packages only.

scikit-image ships NASA's portrait of astronaut Eileen Collins (`astronaut.png`, public
domain); it is test data here, never the product's default face.
"""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = ["astronaut", "no_face"]


def astronaut(folder: Path) -> Path:
    """A copy of scikit-image's astronaut portrait in `folder` (its cache goes beside it)."""
    from skimage import data

    source = Path(data.__file__).parent / "astronaut.png"
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(source, folder / "astronaut.png"))


def no_face(folder: Path) -> Path:
    """A photo with no face in it (scikit-image's coffee cup, public domain)."""
    from skimage import data

    source = Path(data.__file__).parent / "coffee.png"
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(source, folder / "coffee.png"))
