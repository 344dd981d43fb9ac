// Container health check: healthy while the process answers GET /metrics on its metrics port
// (BASALT_METRICS_PORT, the port every Basalt process in these images exports Prometheus metrics on).
const port = Number(process.env.BASALT_METRICS_PORT ?? '9464');
try {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(4000) });
  process.exitCode = response.ok ? 0 : 1;
} catch (error) {
  console.error(`healthcheck: GET /metrics on port ${port}: ${String(error)}`);
  process.exitCode = 1;
}
