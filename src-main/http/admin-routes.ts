/**
 * The owner's endpoints (desktop UI in browser mode, scripts), all behind the admin bearer token:
 * create products, import keys, read stock, confirm a payment by hand, reconcile, verify the ledger.
 * They talk to a ShopBackend (engine/backend.ts), so a shop on PostgreSQL answers them as SQLite does.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  AdminOrderResponse,
  API_PREFIX,
  CreateProductBody,
  IdParams,
  ImportKeysJson,
  ImportReport,
  LedgerVerify,
  MarkPaidBody,
  ProductResponse,
  Reconciliation,
  Stock,
} from '../../shared/api';
import type { ShopBackend } from '../engine/backend';
import type { CodeSource } from '../vault/import-source';
import { toWireFinding } from '../reconcile/run';
import { HttpProblem } from './problems';
import { BODY_ERRORS, responses } from './route-docs';
import { adminGuard } from './security';
import { toAdminOrder, toAdminProduct } from './views';

export interface AdminRouteOptions {
  readonly shop: ShopBackend;
  /** SHA-256 of the admin token (see adminTokenDigest); null locks the admin routes. */
  readonly adminTokenDigest: Buffer | null;
}

const ADMIN_ERRORS = ['unauthorized'] as const;

/** A text/plain upload: decoded by its declared charset, else as UTF-8 when it is, else raw bytes for detection. */
function textSource(body: Buffer, contentType: string | undefined): CodeSource {
  const charset = /;\s*charset\s*=\s*"?([\w.:-]+)"?/i.exec(contentType ?? '')?.[1];
  if (charset !== undefined) {
    let decoder;
    try {
      decoder = new TextDecoder(charset, { fatal: true });
    } catch {
      throw new HttpProblem('unsupported_media_type', `unknown charset ${charset.slice(0, 40)}`);
    }
    try {
      return { kind: 'text', text: decoder.decode(body) };
    } catch {
      throw new HttpProblem('validation_failed', `the body is not valid ${charset.slice(0, 40)}`);
    }
  }
  try {
    return { kind: 'text', text: new TextDecoder('utf-8', { fatal: true }).decode(body) };
  } catch {
    return { kind: 'bytes', data: body };
  }
}

export const adminRoutes: FastifyPluginAsyncZod<AdminRouteOptions> = async (app, { shop, adminTokenDigest }) => {
  app.addHook('onRequest', adminGuard(adminTokenDigest));
  // Key uploads arrive as text/plain bytes: their encoding is decided here, not by a default parser.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('text/plain', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  const security = [{ adminToken: [] }];

  app.post(
    `${API_PREFIX}/admin/products`,
    {
      schema: {
        summary: 'Create a product',
        operationId: 'adminCreateProduct',
        tags: ['admin'],
        security,
        body: CreateProductBody,
        response: responses({ 201: { schema: ProductResponse, description: 'the new product' } }, [
          ...ADMIN_ERRORS,
          ...BODY_ERRORS,
        ]),
      },
    },
    async (request, reply) => {
      const { name, price, onSale } = request.body;
      const product = await shop.createProduct({ name, price, ...(onSale === undefined ? {} : { onSale }) });
      return reply.code(201).send({ product: toAdminProduct(product) });
    },
  );

  app.post(
    `${API_PREFIX}/admin/products/:id/keys`,
    {
      schema: {
        summary: 'Import keys: text/plain (one code per line) or JSON {"codes": [...]}',
        operationId: 'adminImportKeys',
        description: 'Atomic: every accepted code is stored, or none.',
        tags: ['admin'],
        security,
        params: IdParams,
        response: responses({ 200: { schema: ImportReport, description: 'what the import did' } }, [
          ...ADMIN_ERRORS,
          ...BODY_ERRORS,
          'product_not_found',
          'import_rejected',
        ]),
      },
    },
    async (request) => {
      const productId = request.params.id;
      if (!(await shop.getProduct(productId))) throw new HttpProblem('product_not_found', `no product ${productId}`);
      let source: CodeSource;
      if (Buffer.isBuffer(request.body)) {
        source = textSource(request.body, request.headers['content-type']);
      } else {
        const parsed = ImportKeysJson.safeParse(request.body);
        if (!parsed.success) {
          const errors = parsed.error.issues.flatMap((issue) =>
            issue.code === 'unrecognized_keys'
              ? issue.keys.map((key) => ({ path: key, message: 'unknown field' }))
              : [{ path: issue.path.join('.') || '(body)', message: issue.message }],
          );
          throw new HttpProblem(
            'validation_failed',
            errors
              .map((e) => `${e.path}: ${e.message}`)
              .join('; ')
              .slice(0, 2000),
            { errors },
          );
        }
        source = { kind: 'text', text: parsed.data.codes.join('\n') };
      }
      const report = await shop.importCodes(productId, source);
      return {
        imported: report.imported,
        duplicates: report.duplicatesInBatch + report.duplicatesInVault,
        duplicatesInBatch: report.duplicatesInBatch,
        duplicatesInVault: report.duplicatesInVault,
        rejected: report.rejected.map((r) => ({ line: r.line, reason: r.reason })),
      };
    },
  );

  app.get(
    `${API_PREFIX}/admin/products/:id/stock`,
    {
      schema: {
        summary: 'Stock of one product',
        operationId: 'adminGetStock',
        tags: ['admin'],
        security,
        params: IdParams,
        response: responses({ 200: { schema: Stock, description: 'available, reserved and sold keys' } }, [
          ...ADMIN_ERRORS,
          'product_not_found',
        ]),
      },
    },
    async (request) => {
      const product = await shop.getProduct(request.params.id);
      if (!product) throw new HttpProblem('product_not_found', `no product ${request.params.id}`);
      return { ...product.stock };
    },
  );

  app.post(
    `${API_PREFIX}/admin/orders/:id/mark-paid`,
    {
      schema: {
        summary: 'Confirm a payment by hand (same effects as a valid webhook)',
        operationId: 'adminMarkPaid',
        description: 'Recorded as payment event `manual:<orderId>`, so pressing twice has one effect.',
        tags: ['admin'],
        security,
        params: IdParams,
        body: MarkPaidBody,
        response: responses({ 200: { schema: AdminOrderResponse, description: 'the order after the payment' } }, [
          ...ADMIN_ERRORS,
          ...BODY_ERRORS,
          'order_not_found',
          'busy',
        ]),
      },
    },
    async (request) => {
      const id = request.params.id;
      const order = await shop.getOrder(id);
      if (!order) throw new HttpProblem('order_not_found', `no order ${id}`);
      const result = await shop.pay({
        orderId: id,
        amount: order.amount,
        currency: order.currency,
        eventId: `manual:${id}`,
        source: 'manual',
        actor: 'admin-api',
      });
      const after = result.order ?? (await shop.getOrder(id));
      if (!after) throw new HttpProblem('order_not_found', `no order ${id}`);
      return { order: toAdminOrder(after) };
    },
  );

  app.get(
    `${API_PREFIX}/admin/reconciliation`,
    {
      schema: {
        summary: 'Disagreements between orders, keys, payments, imported statements and the ledger',
        operationId: 'adminGetReconciliation',
        tags: ['admin'],
        security,
        response: responses({ 200: { schema: Reconciliation, description: 'findings' } }, [...ADMIN_ERRORS]),
      },
    },
    async () => ({ findings: (await shop.reconcile()).findings.map(toWireFinding) }),
  );

  app.get(
    `${API_PREFIX}/admin/ledger/verify`,
    {
      schema: {
        summary: 'Verify the hash-chained ledger against the rows',
        operationId: 'adminVerifyLedger',
        tags: ['admin'],
        security,
        response: responses({ 200: { schema: LedgerVerify, description: 'the verification report' } }, [...ADMIN_ERRORS]),
      },
    },
    async () => {
      const report = await shop.verifyLedger();
      return {
        ok: report.ok,
        entries: report.entries,
        ...(report.firstBadEntry === undefined ? {} : { firstBadEntry: report.firstBadEntry }),
        problems: report.problems.map((p) => ({ seq: p.seq, reason: p.reason })),
      };
    },
  );
};

/** The import request bodies, for the OpenAPI document (the route reads them itself). */
export const IMPORT_BODY_DOC = {
  'text/plain': z.string().describe('one code per line; charset from Content-Type, else UTF-8 or detected'),
  'application/json': ImportKeysJson,
} as const;
