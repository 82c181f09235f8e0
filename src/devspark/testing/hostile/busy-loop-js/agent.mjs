// Spins forever inside act: the host must time the move out.
export function act(observation, context) {
  for (;;) {
    // never yields to the event loop either
  }
}
