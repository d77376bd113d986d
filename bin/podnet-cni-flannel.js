#!/usr/bin/env node
// flannel's CNI plugin as a standalone executable, run like any CNI plugin: the CNI_* environment
// and the network configuration on stdin. Compiled to dist/ by `npm install` (prepare).
import { main } from '../dist/plugins/flannel/main.js';

process.exitCode = main();
