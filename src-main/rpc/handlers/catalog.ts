/** Handlers for shared/rpc/catalog.ts. */
import type { catalogMethods } from '../../../shared/rpc/catalog';
import { countStock } from '../../engine/products';
import { toAdminProduct } from '../../http/views';
import { type Handlers, RpcError, sqliteOnly } from '../dispatcher';

export const catalogHandlers: Handlers<keyof typeof catalogMethods> = {
  'products.list': async (_input, { shop }) => ({ products: (await shop.listProducts()).map(toAdminProduct) }),
  'products.create': async (input, { shop }) => ({
    product: toAdminProduct(await shop.createProduct({ name: input.name, price: input.price, onSale: input.onSale ?? true })),
  }),
  'products.update': async (input, { shop }) => ({
    product: toAdminProduct(
      await shop.updateProduct(input.id, { name: input.name, price: input.price, onSale: input.onSale ?? true }),
    ),
  }),
  'products.stock': (input, ctx) => {
    const engine = sqliteOnly(ctx, 'The stock breakdown');
    if (!engine.getProduct(input.id)) throw new RpcError('product_not_found', `no product ${input.id}`);
    return countStock(engine.db, input.id);
  },
};
