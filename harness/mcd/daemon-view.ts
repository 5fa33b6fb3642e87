/**
 * The daemon's view of bootc: what MCO's pkg/daemon/bootc.go would get from a captured
 * `bootc status --json`. The Go types are data (bootc-go-types.yaml); this module replays the parts
 * of encoding/json that matter for them — keys matched exactly, then case-insensitively; unknown keys
 * ignored; null leaving zero values; a JSON value of the wrong kind recorded as an
 * UnmarshalTypeError while decoding carries on, the first one returned — and then the BootcClient
 * methods the daemon would call on the result, including where they dereference nil.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Type, type Static } from '@sinclair/typebox';
import { InputError, type LocatedProblem } from '../../core/errors.js';
import { loadChecked } from '../../core/load-checked.js';

const Text = Type.String({ minLength: 1 });
const Field = Type.Object(
  { go: Text, json: Text, type: Text, pointer: Type.Optional(Type.Boolean()) },
  { additionalProperties: false },
);
export const GoTypesSchema = Type.Object(
  {
    version: Type.Literal(1),
    source: Type.Object({ repo: Text, commit: Type.String({ pattern: '^[0-9a-f]{40}$' }), file: Text, package: Text }, { additionalProperties: false }),
    root: Text,
    types: Type.Record(Type.String(), Type.Array(Field, { minItems: 1 })),
  },
  { additionalProperties: false },
);
export type GoTypes = Static<typeof GoTypesSchema>;
type GoField = Static<typeof Field>;

const scalars = new Set(['string', 'bool', 'uint32', 'time']);

export const goTypesFile = path.join(path.dirname(fileURLToPath(import.meta.url)), 'bootc-go-types.yaml');

/** Load and check bootc-go-types.yaml: every field type is a scalar or a type the file defines. */
export async function loadGoTypes(file = goTypesFile, displayName = path.relative(process.cwd(), file) || file): Promise<GoTypes> {
  const { value, source } = await loadChecked(file, displayName, GoTypesSchema);
  const problems: LocatedProblem[] = [];
  if (!Object.hasOwn(value.types, value.root)) problems.push({ ...source.locate(['root']), message: `root type '${value.root}' is not defined under types` });
  for (const [name, fields] of Object.entries(value.types)) {
    fields.forEach((f, i) => {
      if (!scalars.has(f.type) && !Object.hasOwn(value.types, f.type)) {
        problems.push({ ...source.locate(['types', name, i, 'type']), message: `unknown type '${f.type}'; expected string, bool, uint32, time or one of: ${Object.keys(value.types).join(', ')}` });
      }
    });
  }
  if (problems.length > 0) throw new InputError(`${displayName}: invalid`, problems);
  return value;
}

// ---- decoding ------------------------------------------------------------------------------------

/** A Go value: scalars, null for a nil pointer, and structs as objects keyed by Go field name. */
export type GoValue = string | number | boolean | null | { [goField: string]: GoValue };

export interface GoTypeError {
  /** The JSON path of the value, dotted (`spec.image.signature`). */
  path: string;
  message: string;
}

/** A Go field no JSON key reached, while a key that differs only in case or separators is there. */
export interface NearMiss {
  path: string;
  goField: string;
  expectedKey: string;
  actualKey: string;
  actualValue: unknown;
}

export interface Decoded {
  value: GoValue;
  /** The error json.Unmarshal returns (the first type error, or a fatal one), or null. */
  error: string | null;
  typeErrors: GoTypeError[];
  nearMisses: NearMiss[];
  /** JSON keys the Go types have no field for (silently dropped). */
  ignoredKeys: string[];
}

const jsonKind = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'object' ? 'object' : typeof v === 'number' ? `number ${String(v)}` : typeof v === 'boolean' ? 'bool' : 'string');
const normalize = (k: string): string => k.toLowerCase().replace(/[_-]/gu, '');
const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/u;

class FatalDecodeError extends Error {}

export function decodeLikeGo(json: unknown, types: GoTypes): Decoded {
  const out: Decoded = { value: null, error: null, typeErrors: [], nearMisses: [], ignoredKeys: [] };
  const pkg = types.source.package;
  const goTypeName = (t: string): string => (t === 'time' ? 'time.Time' : scalars.has(t) ? t : `${pkg}.${t}`);

  const zero = (t: string): GoValue => {
    if (t === 'string') return '';
    if (t === 'bool') return false;
    if (t === 'uint32') return 0;
    if (t === 'time') return '0001-01-01T00:00:00Z';
    return Object.fromEntries(types.types[t]!.map((f) => [f.go, f.pointer ? null : zero(f.type)]));
  };

  /** Decode `v` into a value of Go type `t`; `structName` and `stack` are Go's error context. */
  const decode = (v: unknown, t: string, stack: string[], structName: string): GoValue => {
    const typeError = (): GoValue => {
      out.typeErrors.push({ path: stack.join('.'), message: `json: cannot unmarshal ${jsonKind(v)} into Go struct field ${structName}.${stack.join('.')} of type ${goTypeName(t)}` });
      return zero(t);
    };
    if (t === 'time') {
      if (typeof v !== 'string' || !rfc3339.test(v)) throw new FatalDecodeError(`parsing time ${JSON.stringify(JSON.stringify(v))}: not an RFC 3339 time (time.Time.UnmarshalJSON)`);
      return v;
    }
    if (t === 'string') return typeof v === 'string' ? v : typeError();
    if (t === 'bool') return typeof v === 'boolean' ? v : typeError();
    if (t === 'uint32') return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? v : typeError();
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return typeError();
    const fields = types.types[t]!;
    const result = zero(t) as { [k: string]: GoValue };
    const matched = new Set<GoField>();
    for (const [key, child] of Object.entries(v)) {
      const field = fields.find((f) => f.json === key) ?? fields.find((f) => f.json.toLowerCase() === key.toLowerCase());
      const childStack = [...stack, field?.json ?? key];
      if (!field) {
        out.ignoredKeys.push(childStack.join('.'));
        continue;
      }
      matched.add(field);
      // null into a pointer leaves nil, into anything else leaves the zero value.
      if (child === null) continue;
      result[field.go] = decode(child, field.type, childStack, t);
    }
    for (const f of fields) {
      if (matched.has(f)) continue;
      const near = Object.keys(v).find((k) => normalize(k) === normalize(f.json));
      if (near !== undefined) out.nearMisses.push({ path: [...stack, near].join('.'), goField: `${t}.${f.go}`, expectedKey: f.json, actualKey: near, actualValue: (v as Record<string, unknown>)[near] });
    }
    return result;
  };

  try {
    out.value = json === null ? zero(types.root) : decode(json, types.root, [], types.root);
    if (out.typeErrors.length > 0) out.error = out.typeErrors[0]!.message;
  } catch (err) {
    if (!(err instanceof FatalDecodeError)) throw err;
    out.error = err.message;
  }
  // A near-miss key also shows up as ignored; keep it in one place.
  const nearPaths = new Set(out.nearMisses.map((n) => n.path));
  out.ignoredKeys = out.ignoredKeys.filter((k) => !nearPaths.has(k));
  return out;
}

// ---- the BootcClient methods ---------------------------------------------------------------------

export type MethodResult<T> = { kind: 'ok'; value: T } | { kind: 'error'; message: string } | { kind: 'panic'; message: string; at: string };

export interface BootedImageInfo {
  OSImageURL: string;
  ImageVersion: string;
  BaseChecksum: string;
}

export type DaemonViewFindingId = 'query-status-error' | 'deploy-serial-zero' | 'booted-image-info-panic' | 'field-near-miss';

export interface DaemonViewFinding {
  id: DaemonViewFindingId;
  message: string;
}

export interface DaemonView {
  decoded: Decoded;
  /** Client.QueryStatus: the error it returns, or the decoded status. */
  queryStatus: MethodResult<GoValue>;
  getBootedImageInfo: MethodResult<BootedImageInfo>;
  findings: DaemonViewFinding[];
}

type GoStruct = { [k: string]: GoValue };
const asStruct = (v: GoValue | undefined): GoStruct | null => (v !== null && typeof v === 'object' ? v : null);
const nilDeref = (at: string): MethodResult<never> => ({ kind: 'panic', message: 'runtime error: invalid memory address or nil pointer dereference', at });

/** BootcClient.GetBootedImageInfo on a decoded status (bootc.go). */
function getBootedImageInfo(status: GoValue): MethodResult<BootedImageInfo> {
  const booted = asStruct(asStruct(asStruct(status)?.Status)?.Booted);
  // osImageURL := bootedImage.GetContainerImageReference() → return b.Image.Image.Image
  if (!booted) return nilDeref('GetContainerImageReference: b.Image on a nil *BootEntry (no booted entry)');
  const image = asStruct(booted.Image);
  if (!image) return nilDeref('GetContainerImageReference: b.Image.Image with b.Image nil (booted.image is null)');
  const osImageURL = String(asStruct(image.Image)?.Image ?? '');
  const ostree = asStruct(booted.Ostree);
  const baseChecksum = ostree ? String(ostree.Checksum) : '';
  // ImageVersion: *bootedImage.Image.Version
  if (image.Version === null) return nilDeref('GetBootedImageInfo: *bootedImage.Image.Version with Version nil (booted.image.version is null)');
  return { kind: 'ok', value: { OSImageURL: osImageURL, ImageVersion: String(image.Version), BaseChecksum: baseChecksum } };
}

/** What the daemon would get from this `bootc status --json` output (already parsed JSON). */
export function daemonView(json: unknown, types: GoTypes): DaemonView {
  const decoded = decodeLikeGo(json, types);
  const findings: DaemonViewFinding[] = [];
  const queryStatus: MethodResult<GoValue> = decoded.error !== null ? { kind: 'error', message: `failed to parse \`bootc status --json\` output: ${decoded.error}` } : { kind: 'ok', value: decoded.value };
  if (queryStatus.kind === 'error') {
    findings.push({ id: 'query-status-error', message: `Client.QueryStatus returns an error, so every BootcClient method fails: ${queryStatus.message}` });
  }
  for (const n of decoded.nearMisses) {
    if (n.goField === 'BootEntryOstree.DeploySerial') {
      findings.push({ id: 'deploy-serial-zero', message: `${n.path} is ${JSON.stringify(n.actualValue)}, but the Go field is tagged "${n.expectedKey}": the daemon always reads DeploySerial 0` });
    } else {
      findings.push({ id: 'field-near-miss', message: `${n.path}: the Go field ${n.goField} is tagged "${n.expectedKey}", so this key is ignored and the field stays zero` });
    }
  }
  const getInfo: MethodResult<BootedImageInfo> = queryStatus.kind === 'error' ? { kind: 'error', message: queryStatus.message } : getBootedImageInfo(queryStatus.value);
  if (getInfo.kind === 'panic') findings.push({ id: 'booted-image-info-panic', message: `BootcClient.GetBootedImageInfo panics (${getInfo.message}) in ${getInfo.at}` });
  return { decoded, queryStatus, getBootedImageInfo: getInfo, findings };
}
