/**
 * Loads every kube-proxy mode, each registering its backend (backend.ts): importing this module
 * is what makes `kubeProxy.mode` in a Cluster document resolve.
 */

import './iptables.js';
import './nftables.js';
import './ipvs.js';
