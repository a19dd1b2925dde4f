import { describeAuthError } from '../auth/authErrorMessage';
import { AlertIcon, CloseIcon } from './icons';

/** Props for AuthErrorBanner. */
export interface AuthErrorBannerProps {
  /** The `authError` code from the URL. */
  code: string;
  onDismiss: () => void;
}

/** Why the last sign-in did not complete, with a Dismiss button. */
export function AuthErrorBanner({ code, onDismiss }: AuthErrorBannerProps) {
  const { title, detail } = describeAuthError(code);
  return (
    <div className="banner banner-error" role="alert">
      <AlertIcon className="banner-icon" />
      <p className="banner-text">
        <strong>{title}</strong> {detail}
      </p>
      <button type="button" className="icon-button" onClick={onDismiss} aria-label="Dismiss this message">
        <CloseIcon />
      </button>
    </div>
  );
}
