"""The commands besides running the app: `doctor`, `config`, `flows`, `sessions` (`models`
lives with the models). Each module has HELP, add_arguments(parser) and run(args)."""
