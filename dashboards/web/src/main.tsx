// Entry point: take a token out of the URL fragment first (the demo's link), then render the cockpit.
import { render } from 'preact';
import { App } from './app.tsx';
import { tokenFromFragment } from './session.ts';
import './styles.css';

tokenFromFragment(location, history);
render(<App />, document.getElementById('app')!);
