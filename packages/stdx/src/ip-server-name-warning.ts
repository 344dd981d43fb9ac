/**
 * grpc-js sends the target's IP address as the TLS server name, which Node deprecates (DEP0123,
 * printed once per thread). Our certificates carry IP SANs, so it is harmless: this hides that one
 * warning and prints every other as Node would. Call once per thread, before any connection.
 */
export function hideIpServerNameWarning(): void {
  const [printWarning] = process.listeners('warning');
  process.removeAllListeners('warning');
  process.on('warning', (w: Error & { code?: string }) => {
    if (w.code !== 'DEP0123') printWarning?.(w);
  });
}
