// Copyright The KYRA MDR Authors
// SPDX-License-Identifier: Apache-2.0

package gitlabdetectprocessor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"
)

// start reads the GeoIP databases, opens the storage extension's client
// and restores the baselines. Without storage (or with baselines off)
// baselines live in memory and are learnt again after a restart.
func (p *detectProcessor) start(ctx context.Context, host component.Host) error {
	if p.geo != nil {
		p.geo.start()
	} else {
		p.logger.Info("No GeoIP database (geoip::databases): client addresses are not located and the geo rules GLD-104 to GLD-106 are off")
	}
	if p.storageID == nil || !p.hasBaselines() {
		return nil
	}
	ext, ok := host.GetExtensions()[*p.storageID]
	if !ok {
		return fmt.Errorf("storage: extension %q is not configured in the service's extensions", p.storageID)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return fmt.Errorf("storage: extension %q is not a storage extension", p.storageID)
	}
	client, err := se.GetClient(ctx, component.KindProcessor, p.id, "")
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	p.store = client
	p.loadBaselines(ctx)
	p.stopSaving = make(chan struct{})
	p.savingDone = make(chan struct{})
	go p.saveLoop(p.saveInterval)
	return nil
}

// saveLoop saves the baselines that changed, every interval, until shutdown.
func (p *detectProcessor) saveLoop(interval time.Duration) {
	defer close(p.savingDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-p.stopSaving:
			return
		case <-t.C:
			if err := p.saveBaselines(context.Background()); err != nil {
				p.logger.Warn("Cannot save the baselines; retrying at the next interval.", zap.Error(err))
			}
		}
	}
}

// shutdown saves the baselines a last time and closes the storage client.
func (p *detectProcessor) shutdown(ctx context.Context) error {
	if p.geo != nil {
		p.geo.shutdown()
	}
	if p.store == nil {
		return nil
	}
	close(p.stopSaving)
	<-p.savingDone
	err := p.saveBaselines(ctx)
	err = errors.Join(err, p.store.Close(ctx))
	p.store = nil
	return err
}

func (p *detectProcessor) hasBaselines() bool {
	if p.geoProfiles != nil {
		return true
	}
	for _, w := range p.windows {
		if w.base != nil {
			return true
		}
	}
	return false
}
