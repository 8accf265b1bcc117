/**
 * Every admin RPC method, merged from the per-domain files. Both transports and the dispatcher are
 * typed from this one map; `MethodName`, `Input<M>` and `Output<M>` are what callers use.
 */
import type { z } from 'zod';
import type { ErrorInfo } from '../errors';
import { catalogMethods } from './catalog';
import { dashboardMethods } from './dashboard';
import { keysMethods } from './keys';
import { ledgerMethods } from './ledger';
import { ordersMethods } from './orders';
import { paymentsMethods } from './payments';
import { reconcileMethods } from './reconcile';
import { settingsMethods } from './settings';
import { simMethods } from './sim';

export { method, type MethodSpec } from './method';

export const METHODS = {
  ...simMethods,
  ...catalogMethods,
  ...keysMethods,
  ...dashboardMethods,
  ...ordersMethods,
  ...ledgerMethods,
  ...settingsMethods,
  ...paymentsMethods,
  ...reconcileMethods,
} as const;

export type Methods = typeof METHODS;
export type MethodName = keyof Methods;
export type Input<M extends MethodName> = z.input<Methods[M]['input']>;
export type ParsedInput<M extends MethodName> = z.output<Methods[M]['input']>;
export type Output<M extends MethodName> = z.output<Methods[M]['output']>;

export function isMethodName(name: string): name is MethodName {
  return Object.hasOwn(METHODS, name);
}

/** What a call returns across IPC or HTTP: the output, or an error that keeps its stable code. */
export type RpcReply<T = unknown> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: ErrorInfo };

/**
 * Things that happened in the main process that a page showing them should refresh for. Sent over IPC
 * in the desktop app and as server-sent events in browser mode.
 */
export type AppEvent =
  | { readonly type: 'stock'; readonly productId: string }
  | { readonly type: 'order'; readonly orderId: string; readonly productId: string; readonly status: string }
  | { readonly type: 'import'; readonly productId: string; readonly done: number; readonly total: number | null }
  | { readonly type: 'findings'; readonly open: number; readonly new: number };

/** The path browser mode posts calls to: `POST /api/v1/admin/rpc/<method>` with the input as JSON. */
export const RPC_PATH = '/api/v1/admin/rpc';
/** Browser mode's server-sent events. */
export const EVENTS_PATH = '/api/v1/admin/events';
