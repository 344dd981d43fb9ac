// Preloaded with NODE_OPTIONS=--import (where --cpu-prof is not allowed): profiles the whole
// process and writes CPUPROFILE_DIR/<pid>.cpuprofile when it exits normally.
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const session = new Session();
session.connect();
session.post('Profiler.enable');
session.post('Profiler.setSamplingInterval', { interval: 200 });
session.post('Profiler.start');
process.on('exit', () => {
  session.post('Profiler.stop', (err, result) => {
    if (err === null) writeFileSync(join(process.env.CPUPROFILE_DIR ?? '.', `${process.pid}.cpuprofile`), JSON.stringify(result.profile));
  });
});
