import { removeRunMarkers } from './run-markers';

/** jest's globalTeardown: runs once in the main process when the run ends, passed or failed. */
export default function globalTeardown(): void {
  removeRunMarkers(process.pid);
}
