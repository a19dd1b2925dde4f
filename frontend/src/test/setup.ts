// Unmount what each test rendered (Testing Library only does this by itself
// when test globals are enabled; ours are imported explicitly).
import { cleanup } from '@testing-library/react';
import { afterEach } from 'vitest';

afterEach(() => {
  cleanup();
});
