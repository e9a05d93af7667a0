// Change events: types and fields, watcher matching, delivery order, buffering,
// closing, and onChange callbacks.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { assertNothingBefore, brief, clock, collect, nextEvent, openStore, plain, record, T0, take, within } from './helpers.js'

/** @param {import('./index.js').Factory} factory */
export default function events(factory) {
  describe('events', () => {
    it('set, delete, delete_group and expire carry type, group, key, value and timestamp', async (t) => {
      const now = clock()
      const store = await openStore(t, factory, { now, purgeInterval: 0 })
      const { events } = record(store)
      await store.set('g', 'k', 'v')
      now.advance(1)
      await store.set('g', 't', 'x', { ttl: 5 })
      now.advance(1)
      await store.delete('g', 'k')
      now.advance(5)
      await store.purgeExpired()
      await store.set('g', 'k', 'v')
      now.advance(1)
      await store.deleteGroup('g')
      assert.deepEqual(events.map(plain), [
        { type: 'set', group: 'g', key: 'k', value: 'v', timestamp: new Date(T0) },
        { type: 'set', group: 'g', key: 't', value: 'x', timestamp: new Date(T0 + 1) },
        { type: 'delete', group: 'g', key: 'k', timestamp: new Date(T0 + 2) },
        { type: 'expire', group: 'g', key: 't', timestamp: new Date(T0 + 7) },
        { type: 'set', group: 'g', key: 'k', value: 'v', timestamp: new Date(T0 + 7) },
        { type: 'delete_group', group: 'g', key: '', timestamp: new Date(T0 + 8) },
      ])
      for (const e of events) {
        assert.ok(e.timestamp instanceof Date)
        if (e.type !== 'set') assert.equal('value' in e && e.value !== undefined, false, `${e.type} has a value`)
      }
    })

    it('an empty value is reported as the empty string, not as missing', async (t) => {
      const store = await openStore(t, factory)
      const { events } = record(store)
      await store.set('g', 'k', '')
      assert.equal(events[0].value, '')
    })

    it('the timestamp comes from the now option', async (t) => {
      const now = clock(Date.UTC(2001, 0, 1))
      const store = await openStore(t, factory, { now })
      const watcher = store.watch('*', '*')
      await store.set('g', 'k', 'v')
      assert.equal((await nextEvent(watcher)).timestamp.toISOString(), '2001-01-01T00:00:00.000Z')
    })

    it('delete of a missing key emits nothing; deleteGroup of an empty group emits nothing', async (t) => {
      const store = await openStore(t, factory)
      const watcher = store.watch('*', '*')
      const { events } = record(store)
      assert.equal(await store.delete('g', 'nope'), false)
      assert.equal(await store.deleteGroup('nope'), 0)
      assert.equal(await store.deletePrefix('nope'), 0)
      assert.deepEqual(events, [])
      await assertNothingBefore(watcher, () => store.set('m', 'k', 'v'), 'set m/k=v')
    })

    it('removing only expired keys emits no delete or delete_group of its own', async (t) => {
      const now = clock()
      const store = await openStore(t, factory, { now, purgeInterval: 0 })
      for (const g of ['gone', 'p:gone', 'p:mixed', 'keys']) await store.set(g, 'k', 'v', { ttl: 10 })
      await store.set('keys', 'k2', 'v', { ttl: 10 })
      await store.set('p:mixed', 'live', 'v')
      now.advance(10)
      const { events } = record(store)
      assert.equal(await store.delete('keys', 'k'), false)
      assert.equal(await store.deleteMany('keys', ['k2']), 0)
      assert.equal(await store.deleteGroup('gone'), 0)
      assert.equal(await store.deletePrefix('p:'), 1)
      // an expired key met on the way may emit its own expire; nothing else
      assert.deepEqual(brief(events.filter((e) => e.type !== 'expire')), ['delete_group p:mixed/'])
    })

    it('deletePrefix emits one delete_group per group removed', async (t) => {
      const store = await openStore(t, factory)
      await store.set('p:a', 'k1', 'v')
      await store.set('p:a', 'k2', 'v')
      await store.set('p:b', 'k', 'v')
      await store.set('q', 'k', 'v')
      const { events } = record(store)
      await store.deletePrefix('p:')
      assert.deepEqual(brief(events).sort(), ['delete_group p:a/', 'delete_group p:b/'])
    })

    describe('watcher matching', () => {
      async function scenario(t, group, key) {
        const store = await openStore(t, factory)
        await store.set('g', 'k', '0')
        await store.set('g', 'x', '0')
        await store.set('h', 'k', '0')
        const watcher = store.watch(group, key)
        await store.set('g', 'k', '1')
        await store.set('g', 'x', '1')
        await store.set('h', 'k', '1')
        await store.delete('g', 'x')
        await store.delete('g', 'k')
        await store.set('g', 'k', '2')
        await store.deleteGroup('h')
        await store.deleteGroup('g')
        await store.set('end', 'end', 'end')
        store.close()
        return brief(await within(collect(watcher), 'the watcher to end'))
      }

      it("watch('g', 'k') sees that key and its group's delete_group", async (t) => {
        assert.deepEqual(await scenario(t, 'g', 'k'), ['set g/k=1', 'delete g/k', 'set g/k=2', 'delete_group g/'])
      })

      it("watch('g', '*') sees every key of the group and its delete_group", async (t) => {
        assert.deepEqual(await scenario(t, 'g', '*'), [
          'set g/k=1', 'set g/x=1', 'delete g/x', 'delete g/k', 'set g/k=2', 'delete_group g/',
        ])
      })

      it("watch('*', '*') sees everything", async (t) => {
        assert.deepEqual(await scenario(t, '*', '*'), [
          'set g/k=1', 'set g/x=1', 'set h/k=1', 'delete g/x', 'delete g/k', 'set g/k=2',
          'delete_group h/', 'delete_group g/', 'set end/end=end',
        ])
      })

      it("watch('*', 'k') sees that key in every group, and every delete_group", async (t) => {
        assert.deepEqual(await scenario(t, '*', 'k'), [
          'set g/k=1', 'set h/k=1', 'delete g/k', 'set g/k=2', 'delete_group h/', 'delete_group g/',
        ])
      })

      it('a watcher of another key or group sees none of them', async (t) => {
        assert.deepEqual(await scenario(t, 'g', 'nope'), ['delete_group g/'])
        assert.deepEqual(await scenario(t, 'nope', '*'), [])
      })

      it('a watcher sees expire events of its key', async (t) => {
        const now = clock()
        const store = await openStore(t, factory, { now, purgeInterval: 0 })
        await store.set('g', 'k', 'v', { ttl: 1 })
        await store.set('g', 'other', 'v', { ttl: 1 })
        const watcher = store.watch('g', 'k')
        now.advance(1)
        await store.purgeExpired()
        assert.deepEqual(brief([await nextEvent(watcher)]), ['expire g/k'])
        await assertNothingBefore(watcher, () => store.set('g', 'k', 'm'), 'set g/k=m')
      })

      it('a watcher sees writes made through a scope and a transaction', async (t) => {
        const store = await openStore(t, factory)
        const watcher = store.watch('*', '*')
        await store.scope('ns').set('g', 'k', 'scoped')
        await store.transaction((tx) => tx.set('g', 'k', 'tx'))
        await store.scope('ns').transaction((tx) => tx.delete('g', 'k'))
        assert.deepEqual(brief([await nextEvent(watcher), await nextEvent(watcher), await nextEvent(watcher)]), [
          'set ns:g/k=scoped', 'set g/k=tx', 'delete ns:g/k',
        ])
      })

      it('every matching watcher gets each event once', async (t) => {
        const store = await openStore(t, factory)
        const a = store.watch('g', 'k')
        const b = store.watch('g', '*')
        const c = store.watch('*', '*')
        const d = store.watch('g', 'k')
        await store.set('g', 'k', 'v')
        await store.set('z', 'z', 'end')
        await store.close()
        assert.deepEqual(brief(await collect(a)), ['set g/k=v'])
        assert.deepEqual(brief(await collect(b)), ['set g/k=v'])
        assert.deepEqual(brief(await collect(c)), ['set g/k=v', 'set z/z=end'])
        assert.deepEqual(brief(await collect(d)), ['set g/k=v'])
      })
    })

    describe('delivery', () => {
      it('events arrive in commit order, matching the final state', async (t) => {
        const store = await openStore(t, factory)
        const watcher = store.watch('g', '*')
        const { events } = record(store)
        const writes = []
        for (let i = 0; i < 50; i++) writes.push(store.set('g', 'k', String(i)))
        for (let i = 0; i < 10; i++) writes.push(store.scope('ns').set('g', 'k', String(i)))
        await Promise.all(writes)
        assert.equal(events.length, 60)
        const mine = events.filter((e) => e.group === 'g')
        assert.equal(mine.at(-1).value, await store.get('g', 'k'))
        const seen = []
        for (let i = 0; i < 50; i++) seen.push(await nextEvent(watcher))
        assert.deepEqual(seen, mine, 'the watcher and onChange saw different orders')
      })

      it('an event is the same, timestamp included, whether taken live, read back or replayed', async (t) => {
        let time = T0
        // a clock that moves at every reading, so that two readings of one write could not agree by chance
        const store = await openStore(t, factory, { now: () => time++, purgeInterval: 0 })
        const since = await store.revision()
        const { events } = record(store)
        const slow = store.watch('*', '*', { bufferSize: 1 })
        const writes = async (s) => {
          const r = await s.set('g', 'k', 'v')
          await s.set('g', 'a', 'v', { ifAbsent: true })
          await s.set('g', 'k', 'w', { ifRevision: r })
          await s.increment('g', 'n', 2)
          await s.setMany('g', { b: '1', c: '2' })
          await s.deleteMany('g', ['b'])
          await s.delete('g', 'a')
          await s.delete('g', 'k', { ifRevision: (await s.getEntry('g', 'k')).revision })
          await s.set('g', 't', 'v', { ttl: 1 })
          time += 10
          await s.get('g', 't')
          await s.deleteGroup('g')
        }
        await writes(store)
        await store.transaction(writes)
        assert.equal(events.length, 24)
        assert.deepEqual(await take(slow, 24), events)
        const replay = store.watch('*', '*', { since })
        t.after(() => replay.close())
        assert.deepEqual(await take(replay, 24), events)
      })

      it('sequential writes are seen in the order they were made', async (t) => {
        const store = await openStore(t, factory)
        const { events } = record(store)
        for (let i = 0; i < 20; i++) await store.set('g', `k${i % 3}`, String(i))
        await store.delete('g', 'k0')
        await store.deleteGroup('g')
        assert.deepEqual(brief(events).slice(-3), ['set g/k1=19', 'delete g/k0', 'delete_group g/'])
        assert.deepEqual(events.slice(0, 20).map((e) => e.value), Array.from({ length: 20 }, (_, i) => String(i)))
      })

      it('a watcher created after a write does not see it', async (t) => {
        const store = await openStore(t, factory)
        await store.set('g', 'k', 'before')
        const watcher = store.watch('g', 'k')
        await assertNothingBefore(watcher, () => store.set('g', 'k', 'after'), 'set g/k=after')
      })

      it('a full buffer never blocks the writer, and loses nothing uncounted', async (t) => {
        const store = await openStore(t, factory)
        const watcher = store.watch('g', '*', { bufferSize: 4 })
        for (let i = 0; i < 10; i++) await within(store.set('g', `k${i}`, String(i)), `write ${i}`)
        await store.set('g', 'marker', 'm')
        // every event is either delivered, in order, or counted in dropped
        const seen = []
        for (;;) {
          const e = await nextEvent(watcher, 'the marker')
          if (e.key === 'marker') break
          seen.push(Number(e.value))
        }
        assert.equal(seen.length + watcher.dropped, 10, `saw ${seen.length}, dropped ${watcher.dropped}`)
        assert.deepEqual(seen, [...seen].sort((a, b) => a - b))
        assert.deepEqual(seen.slice(0, 4), [0, 1, 2, 3], 'the events that fitted the buffer were lost')
      })

      it('dropped counts the matching events lost, not other changes pruned from the history meanwhile', async (t) => {
        const now = clock()
        const store = await openStore(t, factory, { now, purgeInterval: 0 })
        const watcher = store.watch('g', '*', { bufferSize: 1 })
        await store.set('g', 'a', '1') // fills the buffer
        await store.set('g', 'b', '2')
        await store.set('h', 'x', '1')
        await store.set('h', 'y', '2')
        await store.set('g', 'c', '3')
        now.advance(3_600_000) // an hour: past the default retention of a change log, if the store keeps one
        await store.set('h', 'z', '3')
        await store.set('g', 'd', '4')
        await store.purgeExpired() // prunes a change log by its retention
        const seen = []
        for (;;) {
          const e = await nextEvent(watcher, 'the last event')
          seen.push(e.key)
          if (e.key === 'd') break
        }
        assert.equal(seen.length + watcher.dropped, 4, `saw ${seen}, dropped ${watcher.dropped}`)
        assert.deepEqual(seen, ['a', 'b', 'c', 'd'].filter((k) => seen.includes(k)))
      })

      it('dropped counts the matching events lost when more than the history holds came after them', async (t) => {
        const store = await openStore(t, factory, { purgeInterval: 0 })
        const watcher = store.watch('g', '*', { bufferSize: 1 })
        await store.set('g', 'a', '1') // fills the buffer
        await store.set('g', 'b', '2')
        // 10,000 other changes: as many as a store keeps by default, in memory or in its log
        await store.setMany('h', Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, 'v'])))
        await store.set('g', 'c', '3')
        await store.purgeExpired()
        const seen = []
        for (;;) {
          const e = await nextEvent(watcher, 'the last event')
          seen.push(e.key)
          if (e.key === 'c') break
        }
        assert.equal(seen.length + watcher.dropped, 3, `saw ${seen}, dropped ${watcher.dropped}`)
        assert.deepEqual(seen, ['a', 'b', 'c'].filter((k) => seen.includes(k)))
      })

      it('the default buffer holds many events (at least 16, go-store’s size)', async (t) => {
        const store = await openStore(t, factory)
        const watcher = store.watch('g', '*')
        const writes = []
        for (let i = 0; i < 32; i++) writes.push(store.set('g', `k${i}`, 'v'))
        await Promise.all(writes)
        assert.equal(watcher.dropped, 0)
      })

      it('a watcher waiting in next() is woken by the next write', async (t) => {
        const store = await openStore(t, factory)
        const watcher = store.watch('g', 'k')
        const pending = watcher.next()
        await store.set('g', 'k', 'v')
        assert.deepEqual(brief([(await within(pending, 'the event')).value]), ['set g/k=v'])
      })

      it('several next() calls made at once answer in order, each with its own event', async (t) => {
        const store = await openStore(t, factory)
        const watcher = store.watch('g', '*')
        const waiting = [watcher.next(), watcher.next(), watcher.next()]
        await store.set('g', 'a', '1')
        await store.setMany('g', { b: '2', c: '3' })
        const answers = await within(Promise.all(waiting), 'the three events')
        assert.deepEqual(brief(answers.map((r) => r.value)), ['set g/a=1', 'set g/b=2', 'set g/c=3'])
        const last = [watcher.next(), watcher.next()]
        watcher.close()
        assert.deepEqual(await within(Promise.all(last), 'the end'), [{ done: true, value: undefined }, { done: true, value: undefined }])
      })

      it('several next() calls made at once on a watcher behind its buffer answer in order, none twice', async (t) => {
        const store = await openStore(t, factory)
        const watcher = store.watch('g', '*', { bufferSize: 1 })
        for (let i = 0; i < 6; i++) await store.set('g', `k${i}`, String(i))
        const answers = await within(Promise.all(Array.from({ length: 6 }, () => watcher.next())), 'six events')
        assert.deepEqual(answers.map((r) => r.value.value), ['0', '1', '2', '3', '4', '5'])
        assert.equal(watcher.dropped, 0)
        const waiting = watcher.next()
        await store.set('g', 'after', 'a')
        assert.equal((await within(waiting, 'the live event')).value.key, 'after')
      })

      it('a slow reader never slows a writer: a thousand writes complete with nobody reading', async (t) => {
        const store = await openStore(t, factory)
        const watcher = store.watch('*', '*', { bufferSize: 1 })
        const writes = []
        for (let i = 0; i < 1000; i++) writes.push(store.set('g', `k${i}`, String(i)))
        await within(Promise.all(writes), 'the writes')
        await store.set('end', 'k', 'v')
        let delivered = 0
        let last = -1
        for (;;) {
          const e = await nextEvent(watcher, 'the end marker')
          if (e.group === 'end') break
          assert.ok(Number(e.value) > last, 'events out of order')
          last = Number(e.value)
          delivered++
        }
        assert.equal(delivered + watcher.dropped, 1000)
      })
    })

    describe('closing a watcher', () => {
      it('close() ends the iteration and is idempotent', async (t) => {
        const store = await openStore(t, factory)
        const watcher = store.watch('g', '*')
        const pending = watcher.next()
        watcher.close()
        watcher.close()
        assert.deepEqual(await within(pending, 'the end'), { done: true, value: undefined })
        assert.deepEqual(await watcher.next(), { done: true, value: undefined })
        await store.set('g', 'k', 'v')
        assert.deepEqual(await watcher.next(), { done: true, value: undefined })
      })

      it('breaking out of for await closes the watcher', async (t) => {
        const store = await openStore(t, factory)
        const watcher = store.watch('g', '*')
        await store.set('g', 'a', '1')
        await store.set('g', 'b', '2')
        for await (const e of watcher) {
          assert.equal(e.key, 'a')
          break
        }
        assert.deepEqual(await watcher.next(), { done: true, value: undefined })
        await store.set('g', 'c', '3')
        assert.deepEqual(await watcher.next(), { done: true, value: undefined })
        assert.equal(watcher.dropped, 0)
      })

      it('aborting the signal closes the watcher, including one waiting in next()', async (t) => {
        const store = await openStore(t, factory)
        const controller = new AbortController()
        const watcher = store.watch('g', '*', { signal: controller.signal })
        const pending = watcher.next()
        controller.abort()
        assert.deepEqual(await within(pending, 'the end'), { done: true, value: undefined })
        await store.set('g', 'k', 'v')
        assert.deepEqual(await watcher.next(), { done: true, value: undefined })
      })

      it('an already aborted signal gives a closed watcher', async (t) => {
        const store = await openStore(t, factory)
        const watcher = store.watch('g', '*', { signal: AbortSignal.abort() })
        await store.set('g', 'k', 'v')
        assert.deepEqual(await watcher.next(), { done: true, value: undefined })
      })

      it('closing one watcher leaves the others running', async (t) => {
        const store = await openStore(t, factory)
        const a = store.watch('g', 'k')
        const b = store.watch('g', 'k')
        a.close()
        await store.set('g', 'k', 'v')
        assert.equal((await nextEvent(b)).value, 'v')
      })

      it('watchers can be opened and closed while writes run', async (t) => {
        const store = await openStore(t, factory)
        const work = []
        for (let i = 0; i < 100; i++) {
          work.push(store.set('g', `k${i}`, 'v'))
          const w = store.watch('g', '*')
          if (i % 2 === 0) w.close()
          else work.push(w.next().then(() => w.close()))
        }
        await within(Promise.all(work), 'writes and watchers')
      })
    })

    describe('onChange', () => {
      it('callbacks have run by the time the write resolves (store, scope and transaction)', async (t) => {
        const store = await openStore(t, factory)
        const { events } = record(store)
        const scope = store.scope('ns')
        const scoped = record(scope)
        await store.set('g', 'k', 'v')
        assert.equal(events.length, 1)
        await scope.set('g', 'k', 'v')
        assert.equal(events.length, 2)
        assert.equal(scoped.events.length, 1)
        await store.delete('g', 'k')
        assert.equal(events.length, 3)
        await store.deleteGroup('ns:g')
        assert.equal(events.length, 4)
        await store.transaction((tx) => tx.set('g', 'k', 'v'))
        assert.equal(events.length, 5)
        await store.set('g', 'k', 'v', { ttl: 10 })
        assert.equal(events.length, 6)
      })

      it('a callback may call store methods, including writes, without deadlock', async (t) => {
        const store = await openStore(t, factory)
        const reads = []
        store.onChange((e) => {
          if (e.group === 'g') {
            reads.push(store.get(e.group, e.key))
            reads.push(store.set('mirror', e.key, e.value ?? ''))
            reads.push(store.groups())
            reads.push(store.transaction((tx) => tx.count('g')))
          }
        })
        await store.set('g', 'k', 'v')
        const [value, , groups, count] = await within(Promise.all(reads), 'the reads made in the callback')
        assert.equal(value, 'v')
        assert.deepEqual(groups.includes('g'), true)
        assert.equal(count, 1)
        assert.equal(await store.get('mirror', 'k'), 'v')
      })

      it('a callback may subscribe, unsubscribe and watch', async (t) => {
        const store = await openStore(t, factory)
        const seen = []
        let inner
        const off = store.onChange((e) => {
          seen.push(`outer ${e.key}`)
          if (inner === undefined) {
            inner = store.onChange((x) => seen.push(`inner ${x.key}`))
            store.watch('g', '*').close()
          }
          off()
        })
        await store.set('g', 'a', '1')
        await store.set('g', 'b', '2')
        assert.deepEqual(seen, ['outer a', 'inner b'])
        inner()
      })

      it('a throwing callback fails neither the write nor the other callbacks', async (t) => {
        const store = await openStore(t, factory)
        const warnings = []
        const onWarning = (w) => warnings.push(w)
        process.on('warning', onWarning)
        t.after(() => process.off('warning', onWarning))
        const seen = []
        store.onChange(() => {
          throw new Error('boom')
        })
        store.onChange((e) => seen.push(e.key))
        const watcher = store.watch('g', '*')
        await store.set('g', 'k', 'v')
        await store.set('g', 'k2', 'v')
        assert.deepEqual(seen, ['k', 'k2'])
        assert.equal(await store.get('g', 'k2'), 'v')
        assert.equal((await nextEvent(watcher)).key, 'k')
        // the failure is reported as a process warning, not swallowed
        await new Promise((resolve) => setImmediate(resolve))
        assert.ok(warnings.some((w) => w.message.includes('boom')), 'no warning was emitted')
      })

      it('unsubscribe stops delivery and is idempotent', async (t) => {
        const store = await openStore(t, factory)
        const seen = []
        const off = store.onChange((e) => seen.push(e.key))
        const other = record(store)
        await store.set('g', 'a', '1')
        assert.equal(off(), undefined)
        off()
        await store.set('g', 'b', '2')
        assert.deepEqual(seen, ['a'])
        assert.deepEqual(other.events.map((e) => e.key), ['a', 'b'])
      })

      it('the same function subscribed twice is called twice, and each unsubscribe removes one', async (t) => {
        const store = await openStore(t, factory)
        const seen = []
        const fn = (e) => seen.push(e.key)
        const off1 = store.onChange(fn)
        const off2 = store.onChange(fn)
        await store.set('g', 'a', '1')
        off1()
        off1()
        await store.set('g', 'b', '2')
        off2()
        await store.set('g', 'c', '3')
        assert.deepEqual(seen, ['a', 'a', 'b'])
      })
    })
  })
}
