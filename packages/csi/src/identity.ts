import type { csipb } from '@basalt/wire';

/** The driver's name (CSIDriver object, StorageClass provisioner). */
export const driverName = 'csi.basalt.io';

export type CsiMode = 'controller' | 'node' | 'both';

/** The Identity service: name, capabilities (the controller only where it runs), readiness. */
export function identityHandlers(mode: CsiMode, version: string, probe: () => Promise<void>) {
  return {
    getPluginInfo: (): csipb.IGetPluginInfoResponse => ({ name: driverName, vendorVersion: version }),
    getPluginCapabilities: (): csipb.IGetPluginCapabilitiesResponse => ({
      capabilities: [
        ...(mode === 'node' ? [] : [{ service: { type: 1 /* CONTROLLER_SERVICE */ } }]),
        { service: { type: 2 /* VOLUME_ACCESSIBILITY_CONSTRAINTS */ } },
        { volumeExpansion: { type: 1 /* ONLINE */ } },
      ],
    }),
    probe: async (): Promise<csipb.IProbeResponse> => {
      await probe();
      return { ready: { value: true } };
    },
  };
}
