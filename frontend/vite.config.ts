import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';

// Where `npm run dev` forwards /auth and /api, so the browser sees one
// origin (the Vite dev server). The BFF's public URL must then be the Vite
// origin — see README.md.
const bffOrigin = process.env.BFF_ORIGIN ?? 'http://localhost:8080';

// Only real BFF routes are forwarded (`/api/…`, `/auth/…`), never e.g. `/apis`.
// The Host and Origin headers are passed through unchanged: the BFF checks
// the Origin of POST /auth/sign-out against its public URL.
const proxy = {
  '^/(api|auth)/': { target: bffOrigin, changeOrigin: false },
};

export default defineConfig({
  plugins: [react()],
  server: { port: 5173, strictPort: true, proxy },
  preview: { port: 4173, strictPort: true, proxy },
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
    sourcemap: false,
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
    setupFiles: ['src/test/setup.ts'],
    restoreMocks: true,
    unstubGlobals: true,
  },
});
