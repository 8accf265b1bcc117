/** Handlers for shared/rpc/catalog.ts. */
import type { catalogMethods } from '../../../shared/rpc/catalog';
import { countStock } from '../../engine/products';
import { toAdminProduct } from '../../http/views';
import { type Handlers, RpcError } from '../dispatcher';

export const catalogHandlers: Handlers<keyof typeof catalogMethods> = {
  'products.list': (_input, { engine }) => ({ products: engine.listProducts().map(toAdminProduct) }),
  'products.create': async (input, { engine }) => ({
    product: toAdminProduct(await engine.createProduct({ name: input.name, price: input.price, onSale: input.onSale ?? true })),
  }),
  'products.update': async (input, { engine }) => ({
    product: toAdminProduct(
      await engine.updateProduct(input.id, { name: input.name, price: input.price, onSale: input.onSale ?? true }),
    ),
  }),
  'products.stock': (input, { engine }) => {
    if (!engine.getProduct(input.id)) throw new RpcError('product_not_found', `no product ${input.id}`);
    return countStock(engine.db, input.id);
  },
};
