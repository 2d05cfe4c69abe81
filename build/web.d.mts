// Types for build/web.mjs (plain ESM so build/bundle.mjs can run it with node).
import type { Plugin } from 'esbuild';
import type { WebAssets } from '../firmware/src/http/ui.js';

export declare const WEB_BUDGET_GZIP_BYTES: number;
export declare function buildWebAssets(options?: { minify?: boolean }): Promise<WebAssets>;
export interface WebMeasurement {
  js: number;
  css: number;
  total: number;
  budget: number;
}
export declare function measureWebAssets(assets: WebAssets): WebMeasurement;
export declare function formatMeasurement(measurement: WebMeasurement): string;
export declare function webAssetsPlugin(options?: { quiet?: boolean }): Plugin;
