// A screen that fails to load (its code cannot be fetched offline, or it throws) says so in
// place, and the rest of the dashboard keeps working; moving to another page tries again.
import { Component, type ReactNode } from 'react';
import { Button } from './controls.tsx';
import { Alert } from './feedback.tsx';

export class ScreenBoundary extends Component<{ children: ReactNode; resetKey: string }, { failed: boolean }> {
  override state = { failed: false };

  static getDerivedStateFromError() {
    return { failed: true };
  }

  override componentDidUpdate(previous: { resetKey: string }) {
    if (previous.resetKey !== this.props.resetKey && this.state.failed) this.setState({ failed: false });
  }

  override render() {
    if (!this.state.failed) return this.props.children;
    return (
      <>
        <Alert>
          {navigator.onLine
            ? 'This page could not be shown. Reload the dashboard to try again.'
            : 'You are offline: this page could not be loaded. Reconnect, then try again.'}
        </Alert>
        <Button onPress={() => this.setState({ failed: false })}>Try again</Button>
      </>
    );
  }
}
