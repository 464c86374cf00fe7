// What every bench script that runs Baileys sockets starts with: Baileys and pino loaded from
// tests/interop/node_modules by path (bench/ lives outside that tree), the JSON config given as
// the first argument, a silent logger, and `emit` for one JSON event per stdout line.
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const modules = resolve(here, '../tests/interop/node_modules');
export const load = (p) => import(pathToFileURL(resolve(modules, p)).href);
export const B = await load('@whiskeysockets/baileys/lib/index.js');
const pino = (await load('pino/pino.js')).default;

export const config = JSON.parse(process.argv[2] || '{}');
export const emit = (event, fields = {}) =>
  process.stdout.write(JSON.stringify({ event, ...fields }) + '\n');
export const logger = pino({ level: 'silent' });
