// Node's fs and child_process against the host: reads secrets, lists the runtime
// folder, writes outside /tmp and /state, and reads the environment. Verdicts as in
// the Python probes: BLOCKED, LEAK, INFO, ALLOWED, PRIVATE.
import { execFileSync } from "node:child_process";
import { closeSync, openSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";

const MARKER = "devspark-hostile-marker";
const SANDBOX_ENV = new Set(["PATH", "HOME", "LANG", "PWD"]);

function read(path) {
  try {
    const data = readFileSync(path);
    return `LEAK read ${path} ${data.length} bytes`;
  } catch (error) {
    return `BLOCKED read ${path} ${error.code}`;
  }
}

function list(path) {
  try {
    return `LEAK list ${path} ${readdirSync(path).slice(0, 10).join(",")}`;
  } catch (error) {
    return `BLOCKED list ${path} ${error.code}`;
  }
}

function write(folder) {
  const path = `${folder === "/" ? "" : folder}/${MARKER}`;
  try {
    writeFileSync(path, "devspark hostile marker\n", { flag: "wx" });
  } catch (error) {
    return `BLOCKED write ${path} ${error.code}`;
  }
  unlinkSync(path);
  if (folder === "/tmp" || folder === "/state") return `ALLOWED write ${path}`;
  if (folder === "/" || folder === "/dev") return `PRIVATE write ${path} (sandbox tmpfs)`;
  return `LEAK write ${path}`;
}

function tamper(path) {
  try {
    closeSync(openSync(path, "a"));
    return `LEAK open-for-write ${path}`;
  } catch (error) {
    return `BLOCKED open-for-write ${path} ${error.code}`;
  }
}

function probe() {
  const lines = [];
  for (const path of ["/etc/shadow", "/etc/passwd", "/proc/1/root/etc/shadow", "/var/tmp/devspark-hostile-canary/canary.txt"]) {
    lines.push(read(path));
  }
  for (const path of ["/root", "/home", "/var/tmp/devspark-runtime", "/var/tmp/devspark-runtime/state"]) {
    lines.push(list(path));
  }
  for (const folder of ["/usr", "/agent", "/sdk", "/etc", "/var/tmp", "/", "/tmp", "/state"]) {
    lines.push(write(folder));
  }
  for (const path of ["/agent/agent.mjs", "/sdk/js/runner.mjs", "/usr/bin/node"]) {
    lines.push(tamper(path));
  }
  for (const key of Object.keys(process.env).sort()) {
    lines.push(`${SANDBOX_ENV.has(key) ? "INFO" : "LEAK"} env ${key}=${process.env[key].slice(0, 200)}`);
  }
  try {
    const out = execFileSync("/usr/bin/id", ["-u"], { timeout: 2000 }).toString().trim();
    lines.push(out === "0" ? "LEAK child_process runs as root" : `INFO child_process id -u = ${out}`);
  } catch (error) {
    lines.push(`BLOCKED child_process ${error.code ?? error.name}`);
  }
  return lines;
}

let LINES;
try {
  LINES = probe();
} catch (error) {
  LINES = [`ERROR probe failed ${error}`];
}
let logged = false;

export function act(observation, context) {
  if (!logged) {
    logged = true;
    for (const line of LINES) context.log(line);
    context.log(`DONE fs-probe-js ${LINES.length} checks`);
  }
  return context.legal_actions[0];
}
