// A race against a timer, for the fault harness: nothing it starts outlives it.

/** `promise`'s value, or `fallback` once `ms` have passed (the timer does not outlive the race). */
export async function within(promise, ms, fallback) {
  let timer
  const late = new Promise((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms)
  })
  try {
    return await Promise.race([promise, late])
  } finally {
    clearTimeout(timer)
  }
}
