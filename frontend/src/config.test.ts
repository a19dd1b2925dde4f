import { describe, expect, it } from 'vitest';
import { apiTargetFrom, DEFAULT_API_TARGET } from './config';

describe('apiTargetFrom', () => {
  it('defaults to the demo API when VITE_API_ROUTE is unset', () => {
    expect(apiTargetFrom(undefined)).toBe(DEFAULT_API_TARGET);
  });
  it('hides the API view when VITE_API_ROUTE is set but empty', () => {
    expect(apiTargetFrom('')).toBeNull();
    expect(apiTargetFrom('  ')).toBeNull();
    expect(apiTargetFrom('/')).toBeNull();
  });
  it('takes a route and path, without leading slashes', () => {
    expect(apiTargetFrom(' /orders/v1/items ')).toBe('orders/v1/items');
  });
});
