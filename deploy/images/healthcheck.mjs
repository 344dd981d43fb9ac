// Container health check: healthy while the process answers GET /metrics on its metrics port
// (BASALT_METRICS_PORT). A process binds its metrics port on its listen host: 127.0.0.1, 0.0.0.0 or
// the container's own name, so the check asks the loopback first and then the container's host name.
import { get } from 'node:http';
import { hostname } from 'node:os';

const port = Number(process.env.BASALT_METRICS_PORT ?? '9464');

function answers(host) {
  return new Promise((resolve) => {
    const request = get({ host, port, path: '/metrics', timeout: 3000 }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(false));
  });
}

for (const host of ['127.0.0.1', hostname()]) {
  if (await answers(host)) process.exit(0);
}
console.error(`healthcheck: no answer from /metrics on port ${port} (127.0.0.1, ${hostname()})`);
process.exit(1);
