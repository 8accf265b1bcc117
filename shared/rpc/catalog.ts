/** Products, stock and keys: what the owner manages on the "Products and keys" page and the dashboard. */
import { z } from 'zod';
import { AdminProduct, CreateProductBody, Stock } from '../api';
import { method } from './method';

export const catalogMethods = {
  'products.list': method({
    summary: 'every product with its stock counters',
    writes: false,
    input: z.strictObject({}),
    output: z.object({ products: z.array(AdminProduct) }),
  }),
  'products.create': method({
    summary: 'create a product',
    writes: true,
    input: CreateProductBody,
    output: z.object({ product: AdminProduct }),
  }),
  'products.update': method({
    summary: 'change a product: name, price, on sale or not',
    writes: true,
    input: CreateProductBody.extend({ id: z.string().min(1) }),
    output: z.object({ product: AdminProduct }),
  }),
  'products.stock': method({
    summary: 'stock of one product counted from its key rows',
    writes: false,
    input: z.strictObject({ id: z.string().min(1) }),
    output: Stock,
  }),
} as const;
