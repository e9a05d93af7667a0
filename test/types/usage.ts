// Compiled (not run) by test/package.test.js: the public types as a user sees them.
import { QuotaExceededError, ScopedStore, Store, StoreClosedError, StoreError, TemplateError, Transaction } from 'groupstore'
import type {
  EntriesOptions, Page, PageOptions, Quota, QuotaLimit, RenderOptions, ScopeOptions, SetOptions, StoreErrorCode,
  StoreEvent, StoreEventType, StoreOptions, TransactionCallback, Watcher, WatchOptions,
} from 'groupstore'

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
function expectType<T extends true>(): void {}

export async function usage(): Promise<void> {
  const options: StoreOptions = { purgeInterval: 0, durability: 'normal', busyTimeout: 100, now: Date.now }
  const store: Store = await Store.open(':memory:', options)
  await using disposable = await Store.open()
  void disposable

  expectType<Equal<Awaited<ReturnType<Store['get']>>, string | undefined>>()
  expectType<Equal<Awaited<ReturnType<Store['has']>>, boolean>>()
  expectType<Equal<Awaited<ReturnType<Store['set']>>, void>>()
  expectType<Equal<Awaited<ReturnType<Store['delete']>>, boolean>>()
  expectType<Equal<Awaited<ReturnType<Store['deleteGroup']>>, number>>()
  expectType<Equal<Awaited<ReturnType<Store['deletePrefix']>>, number>>()
  expectType<Equal<Awaited<ReturnType<Store['count']>>, number>>()
  expectType<Equal<Awaited<ReturnType<Store['countAll']>>, number>>()
  expectType<Equal<Awaited<ReturnType<Store['groups']>>, string[]>>()
  expectType<Equal<Awaited<ReturnType<Store['getAll']>>, Record<string, string>>>()
  expectType<Equal<Awaited<ReturnType<Store['ttl']>>, number | null | undefined>>()
  expectType<Equal<Awaited<ReturnType<Store['render']>>, string>>()
  expectType<Equal<Awaited<ReturnType<Store['purgeExpired']>>, number>>()
  expectType<Equal<ReturnType<Store['onChange']>, () => void>>()
  expectType<Equal<ReturnType<Store['watch']>, Watcher>>()
  expectType<Equal<ReturnType<Store['scope']>, ScopedStore>>()

  const set: SetOptions = { ttl: 1000 }
  await store.set('g', 'k', 'v', set)
  const pageOptions: PageOptions = { after: 'k', limit: 10, prefix: 'p' }
  const page: Page = await store.page('g', pageOptions)
  const entries: [key: string, value: string][] = page.entries
  const next: string | undefined = page.next
  void entries
  void next
  const entryOptions: EntriesOptions = { prefix: 'p' }
  for await (const [key, value] of store.entries('g', entryOptions)) void (key.length + value.length)
  const renderOptions: RenderOptions = { strict: true }
  await store.render('{{ k }}', 'g', renderOptions)

  const quota: Quota = { maxKeys: 10, maxGroups: 2 }
  const scopeOptions: ScopeOptions = { quota }
  const tenant = store.scope('t', scopeOptions)
  const namespace: string = tenant.namespace
  void namespace

  const fn: TransactionCallback<number> = async (tx: Transaction) => {
    await tx.set('g', 'k', 'v')
    return tx.count('g')
  }
  const n: number = await store.transaction(fn)
  const m: string = await tenant.transaction(() => 'sync')
  void n
  void m

  const watchOptions: WatchOptions = { bufferSize: 16, signal: AbortSignal.timeout(1000) }
  const watcher: Watcher = store.watch('*', '*', watchOptions)
  const dropped: number = watcher.dropped
  void dropped
  for await (const event of watcher) {
    const type: StoreEventType = event.type
    const e: StoreEvent = event
    const when: Date = e.timestamp
    const value: string | undefined = e.value
    void [type, when, value, e.group, e.key]
    break
  }
  watcher.close()
  const off: () => void = store.onChange((event: StoreEvent) => void event)
  off()

  try {
    await store.get('g', 'k')
  } catch (err) {
    if (err instanceof QuotaExceededError) {
      const limit: QuotaLimit = err.limit
      const ns: string = err.namespace
      void [limit, ns]
    }
    if (err instanceof StoreError) {
      const code: StoreErrorCode = err.code
      void code
    }
    void (err instanceof StoreClosedError || err instanceof TemplateError)
  }
  await store.close()
  await store[Symbol.asyncDispose]()

  // @ts-expect-error: values are strings
  await store.set('g', 'k', 5)
  // @ts-expect-error: durability is 'full' or 'normal'
  await Store.open(':memory:', { durability: 'fast' })
}
