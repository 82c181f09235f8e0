// Allocates heap until V8 dies ("heap out of memory") or the memory cgroup steps in.
const hoard = [];

export function act(observation, context) {
  for (let i = 0; ; i++) {
    hoard.push(new Array(1 << 20).fill(i)); // 8 MiB of V8 heap per block, touched
  }
}
