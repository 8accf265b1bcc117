/** Handlers for shared/rpc/catalog.ts. */
import type { catalogMethods } from '../../../shared/rpc/catalog';
import { countStockOn } from '../../engine/products';
import { toAdminProduct } from '../../http/views';
import { type Handlers, RpcError } from '../dispatcher';

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
  'products.stock': async (input, { shop }) => {
    if (!(await shop.getProduct(input.id))) throw new RpcError('product_not_found', `no product ${input.id}`);
    return countStockOn(shop.sql, input.id);
  },
};
