// Stands in for daily-js in the bundle: localagent never uses Daily's media manager
// (see media.js), and shipping daily-js would ship code that fetches from c.daily.co.
const refuse = () => {
  throw new Error("daily-js is not bundled in localagent's page");
};
export default { getCallInstance: () => undefined, createCallObject: refuse };
