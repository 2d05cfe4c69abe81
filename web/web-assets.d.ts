// The virtual module that build/web.mjs's webAssetsPlugin() provides to the
// main bundle (firmware code imports it; only the bundler can resolve it).
declare module 'rackboot:web-assets' {
  const assets: import('../firmware/src/http/ui.js').WebAssets;
  export default assets;
}
