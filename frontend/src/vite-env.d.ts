/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** `<route>/<path>` the API view calls under /api/proxy (unset: `demo/hello`; empty: no API view). */
  readonly VITE_API_ROUTE?: string;
}

interface ImportMeta {
  readonly env: ImportMetaEnv;
}
