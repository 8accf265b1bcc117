/** Keeps one broken page from taking the whole window down: the rest of the shell keeps working. */
import { Component, type ErrorInfo, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { Button } from '../components/Button';
import { EmptyState } from '../components/EmptyState';

function Fallback({ onRetry }: { onRetry: () => void }) {
  const { t } = useTranslation('common');
  return (
    <EmptyState
      title={t('shell.pageFailed')}
      hint={t('shell.pageFailedHint')}
      action={
        <Button variant="primary" onClick={onRetry}>
          {t('shell.reload')}
        </Button>
      }
    />
  );
}

export class PageErrorBoundary extends Component<{ children: ReactNode; pageId: string }, { failed: boolean }> {
  override state = { failed: false };

  static getDerivedStateFromError(): { failed: boolean } {
    return { failed: true };
  }

  override componentDidCatch(error: Error, info: ErrorInfo): void {
    console.error(`page ${this.props.pageId} failed`, error, info.componentStack);
  }

  override componentDidUpdate(previous: { pageId: string }): void {
    if (previous.pageId !== this.props.pageId && this.state.failed) this.setState({ failed: false });
  }

  override render(): ReactNode {
    return this.state.failed ? <Fallback onRetry={() => this.setState({ failed: false })} /> : this.props.children;
  }
}
