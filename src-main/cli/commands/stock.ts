/** `oncekey stock`: available, reserved and sold per product. */
import { formatMajorUnits } from '../../../shared/money';
import { DATA_OPTION, JSON_OPTION, openEngine, parse, printJson, table, type Io } from '../context';

export async function stockCommand(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parse(argv, { ...DATA_OPTION, ...JSON_OPTION });
  const engine = openEngine(values.data);
  try {
    const products = engine.listProducts();
    if (values.json) {
      printJson(io, {
        products: products.map((p) => ({ id: p.id, name: p.name, price: p.price, onSale: p.onSale, stock: p.stock })),
      });
    } else if (products.length === 0) {
      io.out('no products yet: create one with `oncekey product create --name ... --price ... --currency ...`');
    } else {
      io.out(
        table(
          ['product', 'name', 'price', 'on sale', 'available', 'reserved', 'sold'],
          products.map((p) => [
            p.id,
            p.name,
            `${formatMajorUnits(p.price)} ${p.price.currency}`,
            p.onSale ? 'yes' : 'no',
            p.stock.available,
            p.stock.reserved,
            p.stock.sold,
          ]),
        ),
      );
    }
    return 0;
  } finally {
    await engine.close();
  }
}
