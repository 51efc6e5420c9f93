from source_x_organic_analytics.run import run

if __name__ == "__main__":
    run()
