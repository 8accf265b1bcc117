/** How key rows name their product, for the vault (storing and listing keys) and the engine (stock, sales). */

/**
 * SQL for the number of the product whose id is bound here. Keys name their product by this number
 * (migration 11); SQLite evaluates the subquery once per statement, so an index on keys still serves.
 */
export const PRODUCT_NO = '(SELECT no FROM products WHERE id = ?)';
