// `node --import ./register.js out/main/index.js`: installs the `electron` stub hook.
import { register } from 'node:module';

register('./loader.js', import.meta.url);
