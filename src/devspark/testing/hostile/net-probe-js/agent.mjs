// Tries TCP, UDP and unix-socket connections from node (node:net, node:dgram).
// Runs at import (top-level await: the start budget is generous) and logs verdicts at
// the first act: "BLOCKED <what> <code>" when refused, "LEAK <what> ..." when through.
import dgram from "node:dgram";
import net from "node:net";

const REDIS_PROOF = "*3\r\n$3\r\nSET\r\n$23\r\ndevspark:hostile:canary\r\n$6\r\nescape\r\n";

function connect(options, label) {
  return new Promise((resolve) => {
    let socket;
    const timer = setTimeout(() => {
      socket?.destroy();
      resolve(`BLOCKED ${label} timed out`);
    }, 300);
    try {
      socket = net.connect(options);
    } catch (error) {
      clearTimeout(timer);
      resolve(`BLOCKED ${label} threw ${error.code ?? error.name}`);
      return;
    }
    socket.on("connect", () => {
      clearTimeout(timer);
      if (options.port === 6379) socket.write(REDIS_PROOF);
      socket.end();
      resolve(`LEAK ${label} connected`);
    });
    socket.on("error", (error) => {
      clearTimeout(timer);
      resolve(`BLOCKED ${label} ${error.code ?? error.name}`);
    });
  });
}

function send(host, port) {
  const label = `udp:${host}:${port}`;
  return new Promise((resolve) => {
    let socket;
    try {
      socket = dgram.createSocket("udp4");
    } catch (error) {
      resolve(`BLOCKED ${label} threw ${error.code ?? error.name}`);
      return;
    }
    socket.on("error", (error) => {
      socket.close();
      resolve(`BLOCKED ${label} ${error.code ?? error.name}`);
    });
    socket.send(Buffer.from("hostile"), port, host, (error) => {
      if (error) {
        resolve(`BLOCKED ${label} ${error.code ?? error.name}`);
      } else {
        resolve(`LEAK ${label} sent`);
      }
      try {
        socket.close();
      } catch {
        // already closed by the error handler
      }
    });
  });
}

async function probe() {
  const lines = [];
  for (const port of [5432, 6379, 3306]) {
    lines.push(await connect({ host: "127.0.0.1", port }, `tcp:127.0.0.1:${port}`));
  }
  lines.push(await connect({ host: "1.1.1.1", port: 443 }, "tcp:1.1.1.1:443"));
  for (const path of ["/var/run/postgresql/.s.PGSQL.5432", "/run/postgresql/.s.PGSQL.5432"]) {
    lines.push(await connect({ path }, `unix:${path}`));
  }
  lines.push(await send("127.0.0.1", 53));
  return lines;
}

let LINES;
try {
  LINES = await probe();
} catch (error) {
  LINES = [`ERROR probe failed ${error}`];
}
let logged = false;

export function act(observation, context) {
  if (!logged) {
    logged = true;
    for (const line of LINES) context.log(line);
    context.log(`DONE net-probe-js ${LINES.length} checks`);
  }
  return context.legal_actions[0];
}
