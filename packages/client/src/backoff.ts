/** The pause before retry `attempt` (1, 2, ...) of an SDK operation: 40 ms doubling, capped at 1 s. */
export function backoffMs(attempt: number): number {
  return Math.min(1000, 20 * 2 ** Math.min(attempt, 6));
}

export function backoff(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, backoffMs(attempt)));
}
