import type { ChannelListing } from '../../shared/payments';
import type { ChannelView } from './service';
/** A channel as the admin API and the app list it: no secret, the notify address, ISO times. */
export function toListing(view: ChannelView): ChannelListing {
  return {
    name: view.name,
    enabled: view.enabled,
    configured: true,
    fields: view.fields,
    methods: view.methods,
    settings: view.settings,
    notifyUrl: view.notifyUrl,
    updatedAt: new Date(view.updatedAt).toISOString(),
  };
}
