/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** `<route>/<path>` the API view calls under /api/proxy (default `demo/hello`). */
  readonly VITE_API_ROUTE?: string;
}

interface ImportMeta {
  readonly env: ImportMetaEnv;
}
