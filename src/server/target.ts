/**
 * The part of the library the routes use: a Store, or the ScopedStore of
 * a token's namespace, seen through the same methods.
 *
 * @module
 */
import type { Page, PageOptions, RenderOptions } from '../operations.js'

/** A key's value with its revision and expiry (`getEntry`). */
export interface EntryView {
  value: string
  revision: number
  /** Unix ms, or null for no expiry. */
  expiresAt: number | null
}

/** Options of a conditional `set`. */
export interface ConditionalSetOptions {
  ttl?: number
  ifRevision?: number
  ifAbsent?: true
}

/** The reads and writes a transaction offers the routes. */
export interface TargetTransaction {
  has(group: string, key: string): Promise<boolean>
  set(group: string, key: string, value: string, options?: { ttl?: number }): Promise<number>
}

/** The methods of a Store or ScopedStore that the routes call. */
export interface Target {
  groups(prefix?: string): Promise<string[]>
  count(group: string): Promise<number>
  deleteGroup(group: string): Promise<number>
  page(group: string, options?: PageOptions): Promise<Page>
  getEntry(group: string, key: string): Promise<EntryView | undefined>
  set(group: string, key: string, value: string, options?: ConditionalSetOptions): Promise<number | false>
  delete(group: string, key: string, options?: { ifRevision?: number }): Promise<boolean>
  increment(group: string, key: string, by?: number, options?: { ttl?: number }): Promise<number>
  render(template: string, group: string, options?: RenderOptions): Promise<string>
  transaction<T>(fn: (tx: TargetTransaction) => Promise<T>): Promise<T>
}
