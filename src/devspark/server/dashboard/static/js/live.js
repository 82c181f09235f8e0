// Live events over /api/v1/ws: subscribe to one topic, reconnect a few times, and tell
// the page whether it is live (otherwise the page polls).

import { ApiError, freshAccessToken, openSocket } from './api.js';
import { showError } from './dom.js';

const RETRIES = 5;

/**
 * Subscribe to `topic` ("tournament:<id>" or "match:<id>"). onEvent(event) gets every
 * event of the topic; onState(state) gets "live", "offline" or "login" (no credentials).
 * Returns {close()}.
 */
export function subscribe(topic, onEvent, onState = () => {}) {
  let socket = null;
  let closed = false;
  let attempts = 0;
  let timer = null;

  async function connect() {
    const token = await freshAccessToken().catch(() => null);
    if (closed) return;
    if (!token) {
      onState('login');
      return;
    }
    socket = openSocket();
    socket.addEventListener('open', () => {
      socket.send(JSON.stringify({ type: 'subscribe', topic }));
    });
    socket.addEventListener('message', (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      if (event.type === 'subscribed') {
        attempts = 0;
        onState('live');
      } else if (event.type === 'error') {
        showError(new ApiError(0, event.code || 'error', event.message || 'live events failed'), 'Live updates');
      } else if (event.type === 'dropped') {
        onEvent(event);
      } else if (event.topic === topic) {
        onEvent(event);
      }
    });
    socket.addEventListener('close', () => {
      if (closed) return;
      onState('offline');
      if (attempts++ < RETRIES) timer = setTimeout(connect, 1000 * attempts);
    });
  }

  connect();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      if (socket) socket.close();
    },
  };
}
