import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createBffApi } from './api';
import { App } from './App';
import { takeAuthError } from './auth/location';
import { API_TARGET } from './config';
import { createSessionStore } from './session/store';
import './styles.css';

const api = createBffApi();
const store = createSessionStore(api);
// Read and strip ?authError= before the first render, so returnTo links never carry it.
const authError = takeAuthError();

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');
createRoot(root).render(
  <StrictMode>
    <App api={api} store={store} authError={authError} apiTarget={API_TARGET} />
  </StrictMode>,
);
