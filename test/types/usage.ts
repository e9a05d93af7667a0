// Compiled (not run) by test/package.test.js: the public types as a user sees them.
import { QuotaExceededError, ScopedStore, Store, StoreClosedError, StoreError, TemplateError, Transaction } from 'groupstore'
import type {
  ConditionalSetOptions, DeleteOptions, EntriesOptions, Entry, Page, PageOptions, Quota, QuotaLimit, RenderOptions,
  ScopeOptions, SetOptions, StoreErrorCode, StoreEvent, StoreEventType, StoreOptions, TransactionCallback, TtlOptions,
  UnconditionalSetOptions, Watcher, WatchOptions,
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
  expectType<Equal<Awaited<ReturnType<Store['getEntry']>>, Entry | undefined>>()
  expectType<Equal<Awaited<ReturnType<Store['increment']>>, number>>()
  expectType<Equal<Awaited<ReturnType<Store['getMany']>>, (string | undefined)[]>>()
  expectType<Equal<Awaited<ReturnType<Store['setMany']>>, number>>()
  expectType<Equal<Awaited<ReturnType<Store['deleteMany']>>, number>>()
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

  // set: a revision without a condition, a revision or false with one.
  const plainRevision = await store.set('g', 'k', 'v')
  expectType<Equal<typeof plainRevision, number>>()
  const withTtl = await store.set('g', 'k', 'v', { ttl: 1000 })
  expectType<Equal<typeof withTtl, number>>()
  const unconditional: UnconditionalSetOptions = { ttl: 1000, ifAbsent: false }
  const explicit = await store.set('g', 'k', 'v', unconditional)
  expectType<Equal<typeof explicit, number>>()
  const cas = await store.set('g', 'k', 'v', { ifRevision: plainRevision })
  expectType<Equal<typeof cas, number | false>>()
  const lock = await store.set('g', 'k', 'v', { ifAbsent: true, ttl: 30_000 })
  expectType<Equal<typeof lock, number | false>>()
  const conditional: ConditionalSetOptions = { ifRevision: 3 }
  const viaType = await store.set('g', 'k', 'v', conditional)
  expectType<Equal<typeof viaType, number | false>>()
  const setWith = (options: SetOptions) => store.set('g', 'k', 'v', options)
  expectType<Equal<Awaited<ReturnType<typeof setWith>>, number | false>>()
  await setWith({ ttl: 1000 })
  // @ts-expect-error both conditions at once
  void store.set('g', 'k', 'v', { ifRevision: 1, ifAbsent: true })
  const deleteOptions: DeleteOptions = { ifRevision: plainRevision }
  const released: boolean = await store.delete('g', 'k', deleteOptions)
  void released
  const entry = await store.getEntry('g', 'k')
  if (entry !== undefined) {
    const value: string = entry.value
    const revision: number = entry.revision
    const expiresAt: number | null = entry.expiresAt
    void [value, revision, expiresAt]
  }
  const ttlOptions: TtlOptions = { ttl: 60_000 }
  const hits: number = await store.increment('rate', 'ip', 1, ttlOptions)
  const down: number = await store.increment('rate', 'ip', -1)
  const once: number = await store.increment('rate', 'ip')
  void [hits, down, once]
  const many: (string | undefined)[] = await store.getMany('g', ['a', 'b'])
  void many
  const last: number = await store.setMany('g', { a: '1' }, ttlOptions)
  await store.setMany('g', new Map([['a', '1']]))
  await store.setMany('g', [['a', '1']] as [string, string][])
  void last
  const removed: number = await store.deleteMany('g', ['a', 'b'])
  void removed
  await store.transaction(async (tx) => {
    const r: number | false = await tx.set('g', 'k', 'v', { ifAbsent: true })
    const n: number = await tx.increment('g', 'n')
    void [r, n]
  })
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
