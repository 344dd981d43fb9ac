/** Block `i`'s contents as written in `round`: a nonzero byte that differs between neighbouring blocks and between rounds. */
export function blockPattern(i: number, round: number, blockBytes = 4096): Buffer {
  return Buffer.alloc(blockBytes, ((i * 7 + round * 13) % 251) + 1);
}
