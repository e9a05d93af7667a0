// What the crash writer and its checker agree on.

/** bank/a + bank/b, whenever both exist. */
export const BANK_TOTAL = 1000

/** TTL of the tx-3 keys a transfer writes: long enough never to expire during a run. */
export const TX_TTL = 86_400_000

/** The value written under (group, key): the checker recognises any torn or foreign value. */
export function valueFor(group, key) {
  return `${group}/${key}:${'v'.repeat(key.length % 17)}✓`
}

/** A small seeded generator (mulberry32), so a round can be replayed from its seed. */
export function random(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
