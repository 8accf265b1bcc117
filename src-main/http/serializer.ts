/**
 * Response serialization compiled from each route's zod schema. A schema made only of objects, arrays,
 * strings, numbers, booleans, enums and nullable values becomes a JSON Schema that fast-json-stringify
 * (Fastify's own serializer) compiles into one function per route and status: it writes the declared
 * fields, drops any other, and refuses a missing required field. Anything else (unions of objects,
 * records, transforms) keeps the generic path: the zod schema checks the answer, then JSON.stringify.
 *
 * Why: the generic path re-validated every answer against its schema, so each created order ran the
 * RFC 3339 date-time pattern over its timestamps and walked the zod tree before JSON.stringify walked
 * it again (about 8% of the endpoint's CPU per order, profiled at 64 connections). What the answers
 * hold is already built from typed engine rows (http/views.ts), and the contract tests check every
 * answer against its zod schema (test/http-contract.test.ts).
 */
import fastJson from 'fast-json-stringify';
import { serializerCompiler as zodSerializerCompiler } from 'fastify-type-provider-zod';
import { z, type ZodType } from 'zod';

type JsonSchema = Record<string, unknown>;

const SIMPLE_TYPES = new Set(['string', 'number', 'integer', 'boolean', 'null']);
/** Keywords that only constrain values: the serializer has nothing to do with them. */
const CONSTRAINTS = new Set([
  '$schema',
  'description',
  'title',
  'examples',
  'format',
  'pattern',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'const',
  'enum',
  'default',
]);

const isSchema = (value: unknown): value is JsonSchema => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The schema as fast-json-stringify should see it: `$ref`s into `$defs` inlined, `anyOf [T, null]`
 * turned into `type: [T, 'null']`, value constraints dropped. Null when the schema holds anything the
 * compiled serializer would not write exactly as the generic path does.
 */
export function serializableSchema(schema: JsonSchema, defs: JsonSchema = {}, depth = 0): JsonSchema | null {
  if (depth > 32) return null;
  const ref = schema.$ref;
  if (typeof ref === 'string') {
    const target = ref.startsWith('#/$defs/') ? defs[ref.slice('#/$defs/'.length)] : undefined;
    return isSchema(target) ? serializableSchema(target, defs, depth + 1) : null;
  }
  const anyOf = schema.anyOf;
  if (anyOf !== undefined) {
    if (!Array.isArray(anyOf) || anyOf.length !== 2) return null;
    const nonNull = anyOf.filter((branch) => !(isSchema(branch) && branch.type === 'null' && Object.keys(branch).length === 1));
    const inner = nonNull.length === 1 && isSchema(nonNull[0]) ? serializableSchema(nonNull[0], defs, depth + 1) : null;
    if (inner === null || typeof inner.type !== 'string' || !SIMPLE_TYPES.has(inner.type)) return null;
    return { ...inner, type: [inner.type, 'null'] };
  }
  const out: JsonSchema = {};
  for (const [keyword, value] of Object.entries(schema)) {
    if (CONSTRAINTS.has(keyword) || keyword === '$defs') continue;
    switch (keyword) {
      case 'type':
        if (typeof value !== 'string' || !(SIMPLE_TYPES.has(value) || value === 'object' || value === 'array')) return null;
        out.type = value;
        break;
      case 'required':
        out.required = value;
        break;
      case 'additionalProperties':
        // `false` only: a schema for extra properties (a record) is left to the generic path.
        if (value !== false) return null;
        out.additionalProperties = false;
        break;
      case 'properties': {
        if (!isSchema(value)) return null;
        const properties: JsonSchema = {};
        for (const [name, property] of Object.entries(value)) {
          const converted = isSchema(property) ? serializableSchema(property, defs, depth + 1) : null;
          if (converted === null) return null;
          properties[name] = converted;
        }
        out.properties = properties;
        break;
      }
      case 'items': {
        const items = isSchema(value) ? serializableSchema(value, defs, depth + 1) : null;
        if (items === null) return null;
        out.items = items;
        break;
      }
      default:
        return null;
    }
  }
  // An enum or const without a type (zod writes one for string enums) says nothing the serializer needs.
  if (out.type === undefined) {
    if (typeof schema.const === 'string' || (Array.isArray(schema.enum) && schema.enum.every((v) => typeof v === 'string'))) {
      out.type = 'string';
    } else {
      return null;
    }
  }
  if (out.type === 'object' && out.additionalProperties !== false) return null;
  return out;
}

type Serialize = (data: unknown) => string;

/** The compiled serializer for a zod schema, or null when it must take the generic path. */
export function compileSerializer(schema: ZodType): Serialize | null {
  let json: JsonSchema;
  try {
    json = z.toJSONSchema(schema, { io: 'output', unrepresentable: 'throw' });
  } catch {
    return null;
  }
  const defs = isSchema(json.$defs) ? json.$defs : {};
  const converted = serializableSchema(json, defs);
  if (converted === null) return null;
  return fastJson(converted) as Serialize;
}

type CompilerInput = Parameters<typeof zodSerializerCompiler>[0];

/** Fastify's serializer compiler: compiled where the schema allows, zod's own otherwise. */
export function serializerCompiler(input: CompilerInput): Serialize {
  const schema = input.schema as unknown;
  const compiled = schema instanceof z.ZodType ? compileSerializer(schema) : null;
  return compiled ?? zodSerializerCompiler(input);
}
