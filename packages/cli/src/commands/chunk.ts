import { chunkdFlags, chunkdOptionsFrom, chunkdUsage } from '@basalt/chunk/args';
import type { Command, CommandGroup } from '../command.js';

const start: Command = {
  name: 'start',
  summary: 'run one chunk server (chunkd) in the foreground (Ctrl-C or SIGTERM stops it)',
  usage: chunkdUsage,
  options: chunkdFlags,
  run: async (args) => {
    const options = chunkdOptionsFrom(args.values);
    // Loaded here so that other commands start without LevelDB and the server code.
    const { runChunkd } = await import('@basalt/chunk');
    await runChunkd(options);
    return 0;
  },
};

export const chunkGroup: CommandGroup = { name: 'chunk', summary: 'chunk servers (the data plane)', commands: [start] };
