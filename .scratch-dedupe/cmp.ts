import * as names from '../lib/apiserver/validation/names.js';
import * as ipnet from '../lib/core/ipnet.js';
console.log(names.parseIP('010.1.2.3'), ipnet.parseIP('::1'));
